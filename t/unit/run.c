/*
 * run.c - the one unit-test runner: every suite from t/unit/test_*.c (the
 * table is generated from the file names). check's own switches apply:
 * CK_RUN_SUITE, CK_RUN_CASE, CK_FORK, CK_VERBOSITY, CK_TAP_LOG_FILE_NAME.
 */
#include <check.h>
#include <stdlib.h>

extern Suite *(*const tp_suites[])(void);

int
main(void)
{
    SRunner *sr = srunner_create(NULL);
    int      failed;

    for (size_t i = 0; tp_suites[i] != NULL; i++) {
        srunner_add_suite(sr, tp_suites[i]());
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
