/* db.c: placeholder until the module lands. */
#include "config.h"
int prov_placeholder_db(void);
int prov_placeholder_db(void) { return 0; }
