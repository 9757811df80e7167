# Helpers shared by every module's CMakeLists.

function(nnc_warnings target)
  # GCC 12 reports false stringop/array-bounds overflows inside libstdc++ at -O2/-O3.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-error=stringop-overflow -Wno-error=array-bounds -Wno-error=restrict)
  if(NNC_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(NNC_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# nnc_module(NAME SOURCES... [DEPS ...] [TORCH])
# One static library per module; TORCH adds LibTorch and a precompiled <torch/torch.h>.
function(nnc_module name)
  cmake_parse_arguments(M "TORCH" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${M_SOURCES})
  # The Python module, a shared object, links the static modules: they are position-independent.
  set_property(TARGET ${name} PROPERTY POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${name} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:include>
                             PRIVATE ${PROJECT_SOURCE_DIR}/src)
  set_property(GLOBAL APPEND PROPERTY NNC_MODULES ${name})
  target_link_libraries(${name} PUBLIC ${M_DEPS})
  nnc_warnings(${name})
  if(M_TORCH)
    target_link_libraries(${name} PUBLIC torch)
    nnc_torch_pch(${name})
  endif()
endfunction()

# All LibTorch-using targets share one precompiled header (built once, reused).
function(nnc_torch_pch target)
  if(NOT TARGET nnc_pch)
    return()
  endif()
  target_precompile_headers(${target} REUSE_FROM nnc_pch)
  # The header is compiled position-independent (for the libraries); GCC uses it only under the
  # same setting, so executables compile with -fPIC too (they still link as PIE).
  target_compile_options(${target} PRIVATE -fPIC)
endfunction()

# nnc_test(NAME SOURCES... DEPS ... [LABELS ...])
function(nnc_test name)
  cmake_parse_arguments(T "TORCH" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gtest_main)
  nnc_warnings(${name})
  if(T_TORCH)
    nnc_torch_pch(${name})
  endif()
  target_compile_definitions(${name} PRIVATE NNC_SOURCE_DIR="${PROJECT_SOURCE_DIR}" NNC_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 120 PROPERTIES LABELS "${T_LABELS}")
endfunction()
