/* log.h: placeholder until the module lands. */
