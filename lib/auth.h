/* auth.h: placeholder until the module lands. */
