// engine/mysql/schema_sql: how the swap's RENAME TABLE waits for its locks.
#include <doctest/doctest.h>

#include "dbsnap/engine/mysql/schema_sql.hpp"

using namespace dbsnap::engine::mysql;

TEST_CASE("mysql: the RENAME retries without waiting on MariaDB 10.3 and later, and queues on MySQL") {
  CHECK(rename_wait_for("10.11.18-MariaDB-0+deb12u1") == RenameWait::retry);
  CHECK(rename_wait_for("10.3.39-MariaDB") == RenameWait::retry);
  CHECK(rename_wait_for("11.4.2-MariaDB-log") == RenameWait::retry);
  CHECK(rename_wait_for("5.5.5-10.11.6-MariaDB") == RenameWait::queue);  // the old replication prefix: unsure, queue
  CHECK(rename_wait_for("10.2.44-MariaDB") == RenameWait::queue);
  CHECK(rename_wait_for("8.0.36") == RenameWait::queue);
  CHECK(rename_wait_for("8.4.0-commercial") == RenameWait::queue);
  CHECK(rename_wait_for("") == RenameWait::queue);
  CHECK(rename_wait_for("MariaDB") == RenameWait::queue);
}

TEST_CASE("mysql: the RENAME's SQL") {
  const std::vector<std::string> renames = {"`app`.`a` TO `old`.`a`", "`s`.`a;$$` TO `app`.`a;$$`"};
  CHECK(rename_tables_sql(renames, RenameWait::queue, 30) ==
        "RENAME TABLE `app`.`a` TO `old`.`a`, `s`.`a;$$` TO `app`.`a;$$`;\n");
  const std::string retry = rename_tables_sql(renames, RenameWait::retry, 30);
  CHECK(retry.starts_with("DELIMITER $$\nBEGIN NOT ATOMIC\n"));
  CHECK(retry.ends_with("END$$\nDELIMITER ;\n"));
  CHECK(retry.find("LEAST(wait_before, 30) SECOND") != std::string::npos);
  // Every attempt without waiting; lock_wait_timeout restored on success and on each failure.
  const auto nowait = retry.find("SET SESSION lock_wait_timeout = 0;\n      RENAME TABLE `app`.`a` TO `old`.`a`, "
                                 "`s`.`a;$$` TO `app`.`a;$$`;\n      SET SESSION lock_wait_timeout = wait_before;");
  CHECK(nowait != std::string::npos);
  const auto handler = retry.find("EXIT HANDLER FOR 1205, 1213 BEGIN\n        SET SESSION lock_wait_timeout = wait_before;");
  CHECK(handler != std::string::npos);
  CHECK(handler < nowait);
  CHECK(retry.find("RESIGNAL") != std::string::npos);
}
