/* serve.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_serve(void);
int prov_placeholder_serve(void) { return 0; }
