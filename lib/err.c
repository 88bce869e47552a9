/* err.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_err(void);
int prov_placeholder_err(void) { return 0; }
