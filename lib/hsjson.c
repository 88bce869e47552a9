/* hsjson.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_hsjson(void);
int prov_placeholder_hsjson(void) { return 0; }
