/* req.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_req(void);
int prov_placeholder_req(void) { return 0; }
