/* auth.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_auth(void);
int prov_placeholder_auth(void) { return 0; }
