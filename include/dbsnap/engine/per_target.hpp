#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "dbsnap/config/config.hpp"

namespace dbsnap::engine {

// Whether `a` and `b` name the same target with the same engine, config
// folder and keys: when they do, an object made for `a` serves `b`.
bool same_target(const config::Target& a, const config::Target& b);

// One object per target, made on first use and reused for the rest of the
// process: how an engine instance (one per process, in the registry) makes
// a target's runtime or server once instead of once per call. A target
// whose keys changed (another config loaded in the same process) gets a new
// object; one whose making threw is made again next time.
template <class T>
class PerTarget {
 public:
  using Make = std::function<std::shared_ptr<T>(const config::Target&)>;
  explicit PerTarget(Make make) : make_(std::move(make)) {}

  // The target's object; throws what `make` throws.
  std::shared_ptr<T> get(const config::Target& target) {
    std::lock_guard lock(mutex_);
    for (auto& [known, object] : objects_) {
      if (known.name != target.name) continue;
      if (!same_target(known, target)) {
        object = make_(target);
        known = target;
      }
      return object;
    }
    auto object = make_(target);
    objects_.emplace_back(target, object);
    return object;
  }

 private:
  Make make_;
  std::mutex mutex_;
  std::vector<std::pair<config::Target, std::shared_ptr<T>>> objects_;
};

}  // namespace dbsnap::engine
