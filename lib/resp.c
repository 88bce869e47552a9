/* resp.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_resp(void);
int prov_placeholder_resp(void) { return 0; }
