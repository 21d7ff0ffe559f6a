# Test-only targets of the fault-injection suite (included from the top-level
# CMakeLists.txt inside its SHORTY_TESTS block; docs/reliability.md).

# fsync_fail: the LD_PRELOAD shim of tests/integration/test_faults.py. Built
# without the sanitizer flags the tree may add: a preloaded library must not
# depend on the ASan runtime.
add_library(fsync_fail SHARED ${CMAKE_SOURCE_DIR}/tests/faults/fsync_fail.c)
set_property(TARGET fsync_fail PROPERTY COMPILE_OPTIONS -Wall -Wextra -Wno-unused-parameter)
if(SHORTY_WERROR)
  target_compile_options(fsync_fail PRIVATE -Werror)
endif()
set_property(TARGET fsync_fail PROPERTY LINK_OPTIONS "")
target_link_libraries(fsync_fail PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(fsync_fail PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# test_alloc_fail (tests/unit/service/, declared by the unit-test loop):
# every allocation of shorty's own code goes through a failing allocator.
# --wrap rewrites the calls in the objects linked here (the test and the
# static layer libraries), not those inside the shared libsqlite3/jansson;
# the test routes those through the same allocator with sqlite3_config and
# json_set_alloc_funcs.
if(TARGET test_alloc_fail)
  target_sources(test_alloc_fail PRIVATE ${CMAKE_SOURCE_DIR}/tests/faults/failalloc.c)
  target_include_directories(test_alloc_fail PRIVATE ${CMAKE_SOURCE_DIR}/tests/faults)
  target_link_options(test_alloc_fail PRIVATE
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup)
endif()

# test_http_alloc_fail (tests/unit/http/): the same allocator through the
# in-process HTTP server; pthread_create and sh_mono_ns are wrapped too, to
# mark the writer thread and freeze its clock (no timed visit flush racing
# with the counter).
if(TARGET test_http_alloc_fail)
  target_sources(test_http_alloc_fail PRIVATE ${CMAKE_SOURCE_DIR}/tests/faults/failalloc.c)
  target_include_directories(test_http_alloc_fail PRIVATE ${CMAKE_SOURCE_DIR}/tests/faults)
  target_link_options(test_http_alloc_fail PRIVATE
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup
    -Wl,--wrap=pthread_create,--wrap=sh_mono_ns)
endif()
