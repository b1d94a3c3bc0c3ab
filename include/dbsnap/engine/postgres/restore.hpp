#pragma once

// A PostgreSQL restore (see engine.hpp for the design) and a test restore
// (verify --restore), both one psql session dbsnap drives.

#include <memory>

#include "dbsnap/engine/engine.hpp"
#include "dbsnap/engine/postgres/client.hpp"

namespace dbsnap::engine::postgres {

// Seconds a restore waits for other sessions' locks unless the target's
// lock_timeout says otherwise.
inline constexpr int default_lock_timeout = 60;

// Starts a restore of `snapshot` into the client's database: psql connected,
// the transaction begun, user schemas renamed aside. Throws an `engine`
// DbsnapError (the database missing, a server older than PostgreSQL 10);
// nothing has changed then.
std::unique_ptr<RestoreSession> start_restore(std::unique_ptr<Client> client, const store::Manifest& snapshot,
                                              int lock_timeout);

// Starts a test restore of `snapshot` into a scratch database on the
// client's server. Throws an `engine` DbsnapError when the scratch database
// cannot be made (the user may not create databases).
std::unique_ptr<TrialRestore> start_trial(std::unique_ptr<Client> client, const store::Manifest& snapshot);

}  // namespace dbsnap::engine::postgres
