# Helpers shared by every module's CMakeLists.txt.

# otf_module(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# A static library otf_<NAME> whose include root is src/ (so "core/core.h" works), with the
# project's warnings. Dependencies must follow STYLE §2 (tools/check-deps.sh checks includes).
function(otf_module name)
    cmake_parse_arguments(M "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
    add_library(otf_${name} STATIC ${M_SOURCES})
    target_include_directories(otf_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include
        ${CMAKE_BINARY_DIR}/generated)
    target_compile_options(otf_${name} PRIVATE ${OTF_WARNINGS})
    target_link_libraries(otf_${name} PUBLIC ${M_PUBLIC_DEPS} PRIVATE ${M_PRIVATE_DEPS})
    set_target_properties(otf_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# otf_unit_test(NAME SOURCES ... LIBS ... [LABELS ...])
# A cmocka executable registered with CTest; exit code 77 is a SKIP (STYLE §8).
function(otf_unit_test name)
    cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    target_compile_options(${name} PRIVATE ${OTF_WARNINGS})
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests
        ${CMAKE_BINARY_DIR}/generated)
    target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME ${name} COMMAND ${name})
    if(NOT T_LABELS)
        set(T_LABELS unit)
    endif()
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" SKIP_RETURN_CODE 77
        ENVIRONMENT "OTF_SOURCE_DIR=${CMAKE_SOURCE_DIR};OTF_TESTDATA=${CMAKE_SOURCE_DIR}/tests/data")
endfunction()

# otf_app(NAME SOURCES ... LIBS ...): a program in build/bin.
function(otf_app name)
    cmake_parse_arguments(A "" "" "SOURCES;LIBS" ${ARGN})
    add_executable(${name} ${A_SOURCES})
    target_compile_options(${name} PRIVATE ${OTF_WARNINGS})
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
    target_link_libraries(${name} PRIVATE ${A_LIBS})
endfunction()
