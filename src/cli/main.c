/* Placeholder until the CLI lands (issue 2). */
#include <stdio.h>
int main(void)
{
	fputs("shorty: not built yet\n", stderr);
	return 1;
}
