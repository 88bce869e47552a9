/*
 * tap.h: the few macros the unit tests need to speak TAP, so automake's
 * harness counts every check rather than every program.
 */
#ifndef PROV_TAP_H
#define PROV_TAP_H

#include <stdio.h>

static int	tap_n;
static int	tap_failed;

/* Reports one check; expr is evaluated once. */
#define ok(expr, ...) do {						\
	int tap_ok_ = (expr) ? 1 : 0;					\
	printf("%sok %d - ", tap_ok_ ? "" : "not ", ++tap_n);		\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	if (!tap_ok_) {							\
		tap_failed++;						\
		printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #expr); \
	}								\
} while (0)

/* Prints the plan after the checks and returns the exit status for main. */
#define done_testing() (printf("1..%d\n", tap_n), tap_failed != 0)

#endif /* PROV_TAP_H */
