# End-to-end tests that drive the real binaries (STYLE.md "Tests").
add_test(NAME e2e_server_verify COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/server_verify.sh $<TARGET_FILE:kluis-server>)
add_test(NAME e2e_fidelity COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/fidelity.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
add_test(NAME e2e_real_trees COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/real_trees.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
add_test(NAME e2e_incremental COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/incremental.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
add_test(NAME e2e_bad_input COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/bad_input.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_fidelity e2e_real_trees e2e_incremental e2e_bad_input PROPERTIES TIMEOUT 300)
add_test(NAME e2e_escape COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/escape.sh $<TARGET_FILE:kluis>)
set_tests_properties(e2e_escape PROPERTIES TIMEOUT 120)
add_test(NAME e2e_cli_rules COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/cli_rules.sh $<TARGET_FILE:kluis>)
set_tests_properties(e2e_cli_rules PROPERTIES TIMEOUT 120)
# Issue #3: the repository server behind a real OpenSSH server (they start
# /usr/sbin/sshd themselves and fail if it is missing).
add_test(NAME e2e_ssh_basic COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/ssh_basic.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
add_test(NAME e2e_ssh_faults COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/ssh_faults.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
add_test(NAME e2e_ssh_mfa COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/ssh_mfa.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_ssh_basic e2e_ssh_faults e2e_ssh_mfa PROPERTIES TIMEOUT 300)
add_test(NAME e2e_serve_raw COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/serve_raw.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_serve_raw PROPERTIES TIMEOUT 120)
# Issue #4: the catalog.
add_test(NAME e2e_catalog COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/catalog.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_catalog PROPERTIES TIMEOUT 300)
add_test(NAME e2e_drill COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/drill.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_drill PROPERTIES TIMEOUT 300)
add_test(NAME e2e_check COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/check.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_check PROPERTIES TIMEOUT 300)
add_test(NAME e2e_report COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/report.sh $<TARGET_FILE:kluis>)
set_tests_properties(e2e_report PROPERTIES TIMEOUT 300)
# Issue #10: the attacker's tests (tests/hostile/, kluis-hostile).
add_test(NAME e2e_hostile_locks COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/hostile_locks.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server> $<TARGET_FILE:kluis-hostile>)
set_tests_properties(e2e_hostile_locks PROPERTIES TIMEOUT 300)
add_test(NAME e2e_hostile_index COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/hostile_index.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server> $<TARGET_FILE:kluis-hostile>)
set_tests_properties(e2e_hostile_index PROPERTIES TIMEOUT 300)
add_test(NAME e2e_format1 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/format1.sh $<TARGET_FILE:kluis>)
set_tests_properties(e2e_format1 PROPERTIES TIMEOUT 300)
# Issue #10 finding 3: a local user races a root restore (needs root).
add_test(NAME e2e_hostile_restore_race COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/hostile_restore_race.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-racer>)
set_tests_properties(e2e_hostile_restore_race PROPERTIES TIMEOUT 600)
# Issue #10 finding 6: authentic trees that make a restore costly, written
# by a backup-only key through the append-only role of a real sshd.
add_test(NAME e2e_hostile_restore_cost COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/hostile_restore_cost.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server> $<TARGET_FILE:kluis-hostile>)
set_tests_properties(e2e_hostile_restore_cost PROPERTIES TIMEOUT 900)
# Issue #10: the attacker's objects (tests/hostile/) through the append-only
# role of a real sshd.
add_test(NAME e2e_hostile_names COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/hostile_names.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server> $<TARGET_FILE:kluis-hostile>)
set_tests_properties(e2e_hostile_names PROPERTIES TIMEOUT 300)
add_test(NAME e2e_ssh_known_hosts COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/ssh_known_hosts.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_ssh_known_hosts PROPERTIES TIMEOUT 300)
add_test(NAME e2e_passphrase COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/passphrase.sh $<TARGET_FILE:kluis>)
set_tests_properties(e2e_passphrase PROPERTIES TIMEOUT 300)
# Issue #10: the attacker of the threat model (tests/hostile/kluis-hostile)
# against the real binaries, through a real sshd's append-only role.
add_test(NAME e2e_hostile_trees COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/hostile_trees.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server> $<TARGET_FILE:kluis-hostile>)
set_tests_properties(e2e_hostile_trees PROPERTIES TIMEOUT 600)
add_test(NAME e2e_hostile_flood COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/hostile_flood.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server> $<TARGET_FILE:kluis-hostile>)
set_tests_properties(e2e_hostile_flood PROPERTIES TIMEOUT 900)
# Issue #11 section 3: deletion on the server (trash, delay, minimum age,
# purge, undelete) through a real sshd.
add_test(NAME e2e_server_trash COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/server_trash.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_server_trash PROPERTIES TIMEOUT 300)
add_test(NAME e2e_key_remove COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/key_remove.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_key_remove PROPERTIES TIMEOUT 300)
# Issue #11 section 1: forget, on receive time, against a hacked host's
# forged dates; catalogs follow; the roles over a real sshd.
add_test(NAME e2e_forget COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/forget.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server> $<TARGET_FILE:kluis-hostile>)
set_tests_properties(e2e_forget PROPERTIES TIMEOUT 600)
# Issue #11 section 2: prune, its locks, kill -9 at six points, and over
# ssh:// its roles, the server's trash and undelete.
add_test(NAME e2e_prune COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/prune.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server> $<TARGET_FILE:kluis-hostile>)
set_tests_properties(e2e_prune PROPERTIES TIMEOUT 600)
# Issue #11 section 4: erasure with rewrite --forget, prune and purge,
# proven by blob id and by the raw repository bytes.
add_test(NAME e2e_rewrite COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/rewrite.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server> $<TARGET_FILE:kluis-hostile>)
set_tests_properties(e2e_rewrite PROPERTIES TIMEOUT 300)
# Issue #12: the layer check on the tree and the built server, and each of
# its rules failing on a copy of the tree that breaks it.
add_test(NAME e2e_layers COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/layers.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR} $<TARGET_FILE:kluis>)
set_tests_properties(e2e_layers PROPERTIES TIMEOUT 120)
# Issue #12: allocation failures (KLUIS_FAULT_ALLOC) in backup and restore
# end in a complete snapshot or tree, or in a failure that says so.
add_test(NAME e2e_alloc_faults COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/alloc_faults.sh $<TARGET_FILE:kluis>)
set_tests_properties(e2e_alloc_faults PROPERTIES TIMEOUT 900)
# Profiles (kluis.conf), config show, the command-line reference (help,
# unknown options, versions) and access times only with --with-atime.
add_test(NAME e2e_profiles COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/profiles.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_profiles PROPERTIES TIMEOUT 300)
# Issue #13 §5: ssh:// through the OpenSSH client (--ssh-command).
add_test(NAME e2e_ssh_command COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/ssh_command.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_ssh_command PROPERTIES TIMEOUT 300)
# Issue #13 §7: the snippets operators copy (docs/examples/, packaging/).
add_test(NAME e2e_doc_examples COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/doc_examples.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server> ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e_doc_examples PROPERTIES TIMEOUT 300)
# Issue #13 §4: progress (terminal line, --json status, SIGUSR1, interval).
add_test(NAME e2e_progress COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/progress.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_progress PROPERTIES TIMEOUT 300)
# Issue #14: sub-chunk deltas on a 96 MiB file of this machine's binaries
# (a week of page rewrites, depth, appends, a lost catalog, damage, a
# backup-only key through a real sshd, prune keeping bases).
add_test(NAME e2e_delta COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/delta.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_delta PROPERTIES TIMEOUT 600)
# Issue #15 §2: kluis-server status - overdue, audit chain, verify and
# purge records, quota, replication lag, the Prometheus textfile.
add_test(NAME e2e_server_status COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/server_status.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_server_status PROPERTIES TIMEOUT 300)
# Issue #15 §3: run records - a backup-only host's runs over a real sshd
# in the operator's report, once; runs that never reached the repository.
add_test(NAME e2e_run_records COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/run_records.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_run_records PROPERTIES TIMEOUT 300)
# Issue #15: kluis-server replicate between two real sshd instances (the
# primary's and the off-site's): first copy, incremental runs, a dropped
# connection and kill -9, the replica role's refusals, bit rot and
# --repair, restores from the copy after the primary was pruned.
add_test(NAME e2e_replicate COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/replicate.sh $<TARGET_FILE:kluis> $<TARGET_FILE:kluis-server>)
set_tests_properties(e2e_replicate PROPERTIES TIMEOUT 300)
