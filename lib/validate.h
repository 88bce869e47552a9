/* validate.h: placeholder until the module lands. */
