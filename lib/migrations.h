/*
 * migrations.h: the schema migrations from sql/, compiled in by
 * sql/embed.sh. Entry i takes the database from PRAGMA user_version i to
 * i + 1 and ends by setting that version itself.
 */
#ifndef PROV_MIGRATIONS_H
#define PROV_MIGRATIONS_H

#include <stddef.h>

extern const char *const	prov_migrations[];
extern const size_t		prov_migrations_count;

#endif /* PROV_MIGRATIONS_H */
