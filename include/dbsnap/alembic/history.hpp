#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dbsnap/alembic/revision_file.hpp"
#include "dbsnap/util/error.hpp"

namespace dbsnap::alembic {

// A down_revision naming an id that no revision file declares.
struct DanglingRef {
  std::string revision;  // the revision whose down_revision it is
  std::string missing;   // the id it names
};

// The revision graph of one versions folder: edges go from a revision to its
// down_revisions. depends_on is kept on each Revision but is not an edge.
class History {
 public:
  // Builds the graph. Returns an ErrorKind::config Error when two revisions
  // share an id (naming both files) or when down_revisions form a cycle
  // (naming it). Down_revisions that point outside the set are allowed and
  // reported by dangling().
  static Expected<History> build(std::vector<Revision> revisions);

  // Returns every revision, sorted by id.
  const std::vector<Revision>& revisions() const { return revisions_; }

  // Returns the ids no other revision names as a down_revision, sorted.
  const std::vector<std::string>& heads() const { return heads_; }

  // Returns the ids of revisions without down_revisions, sorted.
  const std::vector<std::string>& bases() const { return bases_; }

  // Returns the revision with exactly this id, or nullptr.
  const Revision* find(std::string_view id) const;

  // Returns the full id for an exact id or a unique prefix of one. Returns an
  // ErrorKind::not_found Error listing the candidates when the prefix is
  // ambiguous, or listing the heads when nothing matches.
  Expected<std::string> resolve(std::string_view prefix) const;

  // Returns true when `ancestor` is reachable from `descendant` through one
  // or more down_revisions (a revision is not its own ancestor); false when
  // either id is unknown.
  bool is_ancestor(std::string_view ancestor, std::string_view descendant) const;

  // Returns what `alembic downgrade to` undoes on a database at `from`: every
  // revision at or below `from` that is above `to`, each before its
  // down_revisions (across merges too); none when they are equal. Returns an ErrorKind::not_found Error
  // when either id is unknown or `to` is not below `from`, and an
  // ErrorKind::usage Error when the downgrade would undo a merge revision but
  // leave one of its other branches applied: the database would then be at
  // several heads, not at `to`, and such a move is said, never guessed at.
  Expected<std::vector<std::string>> downgrade_steps(std::string_view from, std::string_view to) const;

  // Returns what `alembic upgrade to` applies to a database at `from`: every
  // revision at or below `to` that is not at or below `from`, each after its
  // down_revisions (across merges too: the other branches of a merge are
  // applied first); none when they are equal. Returns an ErrorKind::not_found Error when either id is
  // unknown or `from` is not below `to` (the upgrade would leave both applied:
  // several heads, not `to`).
  Expected<std::vector<std::string>> upgrade_steps(std::string_view from, std::string_view to) const;

  // Returns every revision ordered for printing from head(s) to base(s): each
  // revision comes before all of its down_revisions. A linear history comes
  // out exactly head to base; with branches the order is deterministic: heads
  // in id order, each followed down until it reaches a revision that still
  // has children to print (a merge's parent, a branch point).
  std::vector<const Revision*> walk_from_heads() const;

  // Returns the down_revisions that name ids not in the folder, in
  // walk_from_heads() order; such a history is usable but worth a warning.
  std::vector<DanglingRef> dangling() const;

 private:
  History() = default;
  // Marks the revision at `index` and everything below it.
  std::vector<bool> at_or_below(std::size_t index) const;
  // The indexes of `upper` and `lower`; a not_found Error when either is
  // unknown or `lower` is neither `upper` nor below it.
  Expected<std::pair<std::size_t, std::size_t>> indexes_below(std::string_view upper, std::string_view lower) const;

  std::vector<Revision> revisions_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::vector<std::string> heads_;
  std::vector<std::string> bases_;
  std::vector<std::size_t> walk_;  // indexes into revisions_
};

}  // namespace dbsnap::alembic
