/* conf.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_conf(void);
int prov_placeholder_conf(void) { return 0; }
