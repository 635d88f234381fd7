# Helpers that give every Umbra target the same warnings and include layout.

# -Wmissing-field-initializers fires on C++20 designated initializers that rely on member
# defaults ({.limit = 2}), the style used for option structs here.
set(UMBRA_WARNINGS -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers)

# umbra_library(NAME SOURCES ... DEPS ... PRIVATE_DEPS ...)
# Creates umbra_NAME (alias umbra::NAME). Headers are included as "NAME/file.h" from src/.
function(umbra_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(umbra_${name} STATIC ${ARG_SOURCES})
  add_library(umbra::${name} ALIAS umbra_${name})
  target_include_directories(umbra_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(umbra_${name} PRIVATE ${UMBRA_WARNINGS})
  target_link_libraries(umbra_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# umbra_executable(NAME SOURCES ... DEPS ...)
function(umbra_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${UMBRA_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# umbra_test(NAME LABEL unit|integration SOURCES ... DEPS ... [TIMEOUT s])
# One GoogleTest binary registered as one CTest test, so that an integration binary starts one
# control plane for all its tests (as envtest does per suite).
function(umbra_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${UMBRA_WARNINGS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT})
endfunction()
