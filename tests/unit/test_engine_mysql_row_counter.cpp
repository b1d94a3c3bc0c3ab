#include <optional>

#include "dbsnap/engine/mysql/row_counter.hpp"
#include "helpers.hpp"

using namespace dbsnap;
using namespace dbsnap::engine;

namespace {

// Counts `dump` fed in pieces of `step` bytes (1: byte by byte).
std::optional<store::TableRows> count(const std::string& dump, std::size_t step) {
  mysql::InsertRowCounter counter;
  for (std::size_t i = 0; i < dump.size(); i += step) counter.feed(std::string_view(dump).substr(i, step));
  return counter.tables();
}

// A dump as mariadb-dump writes it: tables, a view stand-in, a trigger body
// with an INSERT, rows whose strings hold every character that could
// mislead a counter.
const std::string dump = R"(-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)
--
-- Table structure for table `empty`
--

DROP TABLE IF EXISTS `empty`;
CREATE TABLE `empty` (
  `id` int(11) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE `odd``name` (
  `id` int(11) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
LOCK TABLES `odd``name` WRITE;
/*!40000 ALTER TABLE `odd``name` DISABLE KEYS */;
INSERT INTO `odd``name` VALUES (1),(2),(3);
/*!40000 ALTER TABLE `odd``name` ENABLE KEYS */;
UNLOCK TABLES;

CREATE TABLE `users` (
  `id` int(11) NOT NULL,
  `name` text
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO `users` VALUES (1,'a),(b'),(2,'it''s'),(3,'back\\slash\'quote),('),(4,NULL),(5,0x28292C27);
INSERT INTO `users` VALUES (6,'new\nline;'),
(7,'MariaDB puts a row per line when asked');
INSERT INTO `users` (`id`, `VALUES`) VALUES (8,'column list');
INSERT INTO `users_archive` VALUES (9,'a table whose name starts alike');

--
-- Temporary table structure for view `v`
--
CREATE TABLE `v` (
  `id` tinyint NOT NULL
) ENGINE=MyISAM */;

--
-- Temporary view structure for view `w`
--
/*!50001 CREATE VIEW `w` AS SELECT 1 AS `id` */;
CREATE TABLE `after_view` (
  `id` int(11) NOT NULL
) ENGINE=InnoDB;

DELIMITER ;;
/*!50003 CREATE*/ /*!50003 TRIGGER `t` AFTER INSERT ON `users` FOR EACH ROW
INSERT INTO `users` VALUES (100, 'a trigger body is not a row') */;;
DELIMITER ;
-- Dump completed on 2026-12-07  4:00:00
)";

}  // namespace

TEST_CASE("mysql row counter: tuples of each table's INSERTs, whatever the strings hold and however the bytes come") {
  const store::TableRows expected{{"empty", 0}, {"odd`name", 3}, {"users", 8}, {"users_archive", 1},
                                  {"after_view", 0}};
  for (std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{64}, dump.size()}) {
    CAPTURE(step);
    auto rows = count(dump, step);
    REQUIRE(rows.has_value());
    CHECK(*rows == expected);
  }
}

TEST_CASE("mysql row counter: a dump it cannot follow gives no counts rather than wrong ones") {
  // Cut inside a tuple, inside a string, and before VALUES.
  CHECK_FALSE(count("CREATE TABLE `t` (\n) ENGINE=InnoDB;\nINSERT INTO `t` VALUES (1,'a", 5).has_value());
  CHECK_FALSE(count("INSERT INTO `t` VALUES (1),(2", 3).has_value());
  CHECK_FALSE(count("INSERT INTO `t` VAL", 3).has_value());
  // Something else where a tuple should start.
  CHECK_FALSE(count("INSERT INTO `t` VALUES 1,2;\n", 4).has_value());
  // A statement that never says VALUES on its line.
  CHECK_FALSE(count("INSERT INTO `t` SELECT 1;\n", 4).has_value());
  // A whole, ordinary dump counts.
  auto rows = count("INSERT INTO `t` VALUES (1),(2);\n", 4);
  REQUIRE(rows.has_value());
  CHECK(rows->at("t") == 2);
}
