#include "dbsnap/cli/app.hpp"

int main(int argc, char** argv) { return dbsnap::cli::run(argc, argv); }
