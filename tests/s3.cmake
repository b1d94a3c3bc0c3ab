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
