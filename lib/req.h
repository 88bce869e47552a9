/* req.h: placeholder until the module lands. */
