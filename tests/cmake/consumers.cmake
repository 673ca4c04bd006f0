# Run by ctest: installs churn into a temporary prefix and builds a consumer with find_package, then
# builds another consumer with add_subdirectory. Both must build and run.
set(work "${BINARY_DIR}/consumer-test")
file(REMOVE_RECURSE "${work}")
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGN}\n${out}\n${err}")
  endif()
endfunction()
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${work}/churn-build" -DCHURN_BUILD_TESTS=OFF
    -DCMAKE_INSTALL_PREFIX=${work}/prefix)
run(${CMAKE_COMMAND} --install "${work}/churn-build")
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/cmake/consumer" -B "${work}/package" -DCHURN_VIA=package
    -DCMAKE_PREFIX_PATH=${work}/prefix)
run(${CMAKE_COMMAND} --build "${work}/package")
run("${work}/package/consumer")
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/cmake/consumer" -B "${work}/subdirectory" -DCHURN_VIA=subdirectory
    -DCHURN_SOURCE_DIR=${SOURCE_DIR})
run(${CMAKE_COMMAND} --build "${work}/subdirectory")
run("${work}/subdirectory/consumer")
message(STATUS "find_package and add_subdirectory consumers built and ran")
