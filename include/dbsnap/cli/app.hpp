#pragma once

namespace dbsnap::cli {

// Parses the command line, runs the command and returns the process exit
// code. This is the one place that catches errors: each becomes a one-line
// "dbsnap: error: ..." on stderr and the exit code of its ErrorKind.
int run(int argc, char** argv);

}  // namespace dbsnap::cli
