/* headscale.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_headscale(void);
int prov_placeholder_headscale(void) { return 0; }
