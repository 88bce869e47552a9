/* serve.h: placeholder until the module lands. */
