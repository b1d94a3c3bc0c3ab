#include "dbsnap/alembic/history.hpp"

#include <algorithm>
#include <ranges>

#include "dbsnap/util/text.hpp"

namespace dbsnap::alembic {

Expected<History> History::build(std::vector<Revision> revisions) {
  History h;
  h.revisions_ = std::move(revisions);
  std::ranges::stable_sort(h.revisions_, {}, &Revision::id);
  const std::size_t n = h.revisions_.size();
  for (std::size_t i = 0; i < n; ++i) {
    const Revision& rev = h.revisions_[i];
    if (i > 0 && h.revisions_[i - 1].id == rev.id) {
      return make_error(ErrorKind::config, "revision '{}' is declared twice: in {} and in {}", rev.id,
                        h.revisions_[i - 1].file.string(), rev.file.string());
    }
    h.index_.emplace(rev.id, i);
  }

  // Edges to revisions in the set; `waiting[i]` counts the children of i not yet walked.
  std::vector<std::vector<std::size_t>> parents(n), children(n);
  std::vector<std::size_t> waiting(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& down : h.revisions_[i].down_revisions) {
      if (auto it = h.index_.find(down); it != h.index_.end()) {
        parents[i].push_back(it->second);
        children[it->second].push_back(i);
        ++waiting[it->second];
      }
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (children[i].empty()) h.heads_.push_back(h.revisions_[i].id);
    if (h.revisions_[i].down_revisions.empty()) h.bases_.push_back(h.revisions_[i].id);
  }

  // Depth-first topological walk: a revision becomes ready once all its
  // children are out; the most recently readied one goes next, so a branch is
  // followed down until it meets a merge point still waiting for other children.
  std::vector<std::size_t> ready;
  for (std::size_t i = n; i-- > 0;) {
    if (children[i].empty()) ready.push_back(i);
  }
  while (!ready.empty()) {
    std::size_t i = ready.back();
    ready.pop_back();
    h.walk_.push_back(i);
    for (std::size_t parent : std::views::reverse(parents[i])) {
      if (--waiting[parent] == 0) ready.push_back(parent);
    }
  }
  if (h.walk_.size() < n) {
    // Every revision left has a child left, so following those must loop.
    std::vector<bool> walked(n, false);
    for (std::size_t i : h.walk_) walked[i] = true;
    std::vector<std::size_t> path;
    std::size_t at = std::ranges::find(walked, false) - walked.begin();
    while (std::ranges::find(path, at) == path.end()) {
      path.push_back(at);
      at = *std::ranges::find_if(children[at], [&](std::size_t c) { return !walked[c]; });
    }
    path.erase(path.begin(), std::ranges::find(path, at));
    std::vector<std::string> ids;
    for (std::size_t i : std::views::reverse(path)) ids.push_back(h.revisions_[i].id);
    std::ranges::rotate(ids, std::ranges::min_element(ids));  // a stable starting point
    ids.push_back(ids.front());
    return make_error(ErrorKind::config, "down_revisions form a cycle: {}", util::join(ids, " -> "));
  }
  return h;
}

const Revision* History::find(std::string_view id) const {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &revisions_[it->second];
}

Expected<std::string> History::resolve(std::string_view prefix) const {
  if (prefix.empty()) return make_error(ErrorKind::not_found, "an empty revision id matches nothing");
  if (find(prefix)) return std::string(prefix);
  std::vector<std::string> candidates;
  for (auto it = index_.lower_bound(prefix); it != index_.end() && it->first.starts_with(prefix); ++it) {
    candidates.push_back(it->first);
  }
  if (candidates.size() == 1) return candidates.front();
  if (candidates.empty()) {
    return make_error(ErrorKind::not_found, "no revision matches '{}' (heads: {})", prefix,
                      heads_.empty() ? "none" : util::join(heads_, ", "));
  }
  return make_error(ErrorKind::not_found, "revision '{}' is ambiguous: {}", prefix, util::join(candidates, ", "));
}

bool History::is_ancestor(std::string_view ancestor, std::string_view descendant) const {
  if (!find(ancestor) || !find(descendant)) return false;
  std::vector<bool> seen(revisions_.size(), false);
  std::vector<const Revision*> todo{find(descendant)};
  while (!todo.empty()) {
    const Revision* rev = todo.back();
    todo.pop_back();
    for (const auto& down : rev->down_revisions) {
      auto it = index_.find(down);
      if (it == index_.end() || seen[it->second]) continue;
      if (down == ancestor) return true;
      seen[it->second] = true;
      todo.push_back(&revisions_[it->second]);
    }
  }
  return false;
}

std::vector<bool> History::at_or_below(std::size_t index) const {
  std::vector<bool> marked(revisions_.size(), false);
  std::vector<std::size_t> todo{index};
  marked[index] = true;
  while (!todo.empty()) {
    const Revision& rev = revisions_[todo.back()];
    todo.pop_back();
    for (const auto& down : rev.down_revisions) {
      auto it = index_.find(down);
      if (it == index_.end() || marked[it->second]) continue;
      marked[it->second] = true;
      todo.push_back(it->second);
    }
  }
  return marked;
}

Expected<std::pair<std::size_t, std::size_t>> History::indexes_below(std::string_view upper,
                                                                     std::string_view lower) const {
  auto u = index_.find(upper);
  auto l = index_.find(lower);
  if (u == index_.end() || l == index_.end()) {
    return make_error(ErrorKind::not_found, "revision {} is not in the migrations folder",
                      u == index_.end() ? upper : lower);
  }
  if (upper != lower && !at_or_below(u->second)[l->second]) {
    return make_error(ErrorKind::not_found, "revision {} is not below {} in the migrations folder", lower, upper);
  }
  return std::pair{u->second, l->second};
}

Expected<std::vector<std::string>> History::downgrade_steps(std::string_view from, std::string_view to) const {
  auto found = indexes_below(from, to);
  if (!found) return std::unexpected(found.error());
  if (from == to) return std::vector<std::string>{};
  const auto applied = at_or_below(found->first);
  // Undone: what is applied and has `to` below it. What stays must be `to` and its ancestors.
  const auto kept = at_or_below(found->second);
  std::vector<std::string> steps, stranded, merges;
  for (std::size_t i : walk_) {
    if (!applied[i] || kept[i]) continue;
    const Revision& rev = revisions_[i];
    if (is_ancestor(to, rev.id)) {
      steps.push_back(rev.id);
      if (rev.down_revisions.size() > 1) merges.push_back(rev.id);
    } else {
      stranded.push_back(rev.id);
    }
  }
  if (!stranded.empty()) {
    return make_error(ErrorKind::usage, "downgrading {} to {} undoes the merge revision {} but leaves {} applied: "
                      "the database would be at several heads, not at {}", from, to, util::join(merges, ", "),
                      util::join(stranded, ", "), to);
  }
  return steps;
}

Expected<std::vector<std::string>> History::upgrade_steps(std::string_view from, std::string_view to) const {
  auto found = indexes_below(to, from);
  if (!found) return std::unexpected(found.error());
  if (from == to) return std::vector<std::string>{};
  const auto wanted = at_or_below(found->first);
  const auto applied = at_or_below(found->second);
  std::vector<std::string> steps;
  for (std::size_t i : std::views::reverse(walk_)) {  // walk_ puts each revision before its down_revisions
    if (wanted[i] && !applied[i]) steps.push_back(revisions_[i].id);
  }
  return steps;
}

std::vector<const Revision*> History::walk_from_heads() const {
  std::vector<const Revision*> out;
  for (std::size_t i : walk_) out.push_back(&revisions_[i]);
  return out;
}

std::vector<DanglingRef> History::dangling() const {
  std::vector<DanglingRef> out;
  for (std::size_t i : walk_) {
    for (const auto& down : revisions_[i].down_revisions) {
      if (!index_.contains(down)) out.push_back({revisions_[i].id, down});
    }
  }
  return out;
}

}  // namespace dbsnap::alembic
