/*
 * main.c — the `shorty` program: everything is in the CLI layer
 * (src/cli/commands.c, the command table), so this stays one call.
 */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
