/*
 * import.h: the one-time import of the Flask provisioner's machines.json
 * into the database, run by the bootstrap.
 */
#ifndef PROV_IMPORT_H
#define PROV_IMPORT_H

#include "conf.h"

/*
 * Imports <data_dir>/machines.json, when there is one, into the database
 * at cfg->db_path, then renames it machines.json.imported. dirfd is the
 * open data directory. Everything it did or refused is logged; a file it
 * could not import is left in place for the next run, and the bootstrap
 * goes on either way: a registration history is no reason to keep the
 * service down.
 */
void	import_machines(const struct conf *cfg, int dirfd);

#endif /* PROV_IMPORT_H */
