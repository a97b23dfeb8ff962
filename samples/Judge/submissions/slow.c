#include <stdio.h>
int main(void) { long long a, b; scanf("%lld %lld", &a, &b); volatile unsigned long x = 0; for (;;) x++; }
