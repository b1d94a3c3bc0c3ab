# Documentation and packaging checks that need neither docker nor a database: every
# tests/integration/test_docs_*.py (the man page against --help, the --version format).
# They need groff (packaging/install-deps.sh --test). Run them with: ctest --test-dir build -L docs
file(GLOB DBSNAP_DOCS_SCENARIOS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/integration/test_docs_*.py)
foreach(script ${DBSNAP_DOCS_SCENARIOS})
  get_filename_component(stem ${script} NAME_WE)
  string(REGEX REPLACE "^test_" "" name ${stem})
  add_test(NAME ${name} COMMAND /usr/bin/python3 ${script})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "DBSNAP=$<TARGET_FILE:dbsnap>;CI=true" LABELS docs TIMEOUT 120)
endforeach()
