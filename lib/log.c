/* log.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_log(void);
int prov_placeholder_log(void) { return 0; }
