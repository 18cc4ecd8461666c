# End-to-end tests that drive the real binaries (STYLE.md "Tests").
add_test(NAME e2e_server_verify COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/server_verify.sh $<TARGET_FILE:kluis-server>)
