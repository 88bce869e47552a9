/* resp.h: placeholder until the module lands. */
