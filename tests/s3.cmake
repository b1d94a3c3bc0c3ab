# The S3 backend against a real S3 server: the `s3` fixture starts single-node Ceph (radosgw) on
# 127.0.0.1:17480 in /tmp/dbsnap-s3-ctest (tests/harness/s3.sh; it writes the endpoint, keys and
# bucket to env in that folder); the cleanup stops it and removes the folder, even after failures.
# The tests run through tests/harness/with-s3.sh, which puts those values in their environment.
set(DBSNAP_S3_DIR /tmp/dbsnap-s3-ctest)
add_test(NAME s3_setup COMMAND ${PROJECT_SOURCE_DIR}/tests/harness/with-s3.sh start ${DBSNAP_S3_DIR} 17480)
set_tests_properties(s3_setup PROPERTIES FIXTURES_SETUP s3 LABELS s3 TIMEOUT 300)
add_test(NAME s3_cleanup COMMAND ${PROJECT_SOURCE_DIR}/tests/harness/s3.sh stop ${DBSNAP_S3_DIR})
set_tests_properties(s3_cleanup PROPERTIES FIXTURES_CLEANUP s3 LABELS s3 TIMEOUT 120)

# The backend conformance suite and the S3-only cases of the unit test binary.
add_test(NAME s3_backend
         COMMAND ${PROJECT_SOURCE_DIR}/tests/harness/with-s3.sh run ${DBSNAP_S3_DIR}
                 $<TARGET_FILE:dbsnap_unit_tests> "-tc=s3 backend*")
set_tests_properties(s3_backend PROPERTIES FIXTURES_REQUIRED s3 LABELS s3 TIMEOUT 600)

# Scenarios that keep a store in the test server's bucket: tests/integration/test_s3_*.py.
file(GLOB DBSNAP_S3_SCENARIOS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/integration/test_s3_*.py)
foreach(script ${DBSNAP_S3_SCENARIOS})
  get_filename_component(name ${script} NAME_WE)
  string(REGEX REPLACE "^test_" "" name ${name})
  add_test(NAME ${name} COMMAND ${PROJECT_SOURCE_DIR}/tests/harness/with-s3.sh run ${DBSNAP_S3_DIR}
                                /usr/bin/python3 ${script})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED s3 LABELS s3 TIMEOUT 600
                       ENVIRONMENT "DBSNAP=$<TARGET_FILE:dbsnap>")
endforeach()
# s3_faults kills and restarts the server (tests/harness/s3.sh rgw-kill / rgw-start): alone.
set_tests_properties(s3_faults PROPERTIES RUN_SERIAL TRUE)
