# Container scenarios: every tests/integration/test_{mysql,postgres,container,flask}_*.py is a CTest
# test that needs the real-container harness. The `docker` fixture installs docker.io, starts dockerd
# when none answers and builds the test image once (tests/harness/docker-env.sh ensure); the cleanup
# removes every container and volume labelled dbsnap-test=1, even after failures.
add_test(NAME docker_setup COMMAND ${PROJECT_SOURCE_DIR}/tests/harness/docker-env.sh ensure)
set_tests_properties(docker_setup PROPERTIES FIXTURES_SETUP docker LABELS docker TIMEOUT 1200)
add_test(NAME docker_cleanup COMMAND ${PROJECT_SOURCE_DIR}/tests/harness/dbctl down)
set_tests_properties(docker_cleanup PROPERTIES FIXTURES_CLEANUP docker LABELS docker TIMEOUT 300)

foreach(kind mysql postgres container flask)
  file(GLOB scenarios CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/integration/test_${kind}_*.py)
  foreach(script ${scenarios})
    get_filename_component(stem ${script} NAME_WE)
    string(REGEX REPLACE "^test_" "" name ${stem})
    add_test(NAME ${name} COMMAND /usr/bin/python3 ${script})
    set_tests_properties(${name} PROPERTIES
      ENVIRONMENT "DBSNAP=$<TARGET_FILE:dbsnap>;DBSNAP_HARNESS=${PROJECT_SOURCE_DIR}/tests/harness"
      FIXTURES_REQUIRED docker LABELS "docker;${kind}" TIMEOUT 900)
  endforeach()
endforeach()
