/* validate.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_validate(void);
int prov_placeholder_validate(void) { return 0; }
