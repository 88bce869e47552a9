/* ratelimit.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_ratelimit(void);
int prov_placeholder_ratelimit(void) { return 0; }
