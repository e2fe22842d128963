/* mc-bayes-score: the classifier's arithmetic: Robinson's f(w) per token
 * (s = 1, x = 0.5), the most significant tokens combined with Fisher's
 * chi-square method as SpamBayes does: I = (1 + S - H) / 2 with
 * S = 1 - C^-1(-2 ln prod(1 - f), 2n) and H = 1 - C^-1(-2 ln prod f, 2n). */
#include "mc-bayes-private.h"

#include <math.h>
#include <stdlib.h>

#include "mailcore/mc-pool.h"

#define ROBINSON_S 1.0
#define ROBINSON_X 0.5

/* One token's probability and its distance from neutral. */
struct prob {
	double f, strength;
};

/* Robinson's f(w) of a token in spam of ns and ham of nh messages. */
static double robinson(int64_t spam, int64_t ham, double ns, double nh)
{
	double sr = ns > 0 ? (double)spam / ns : 0.0;
	double hr = nh > 0 ? (double)ham / nh : 0.0;
	double n = (double)(spam + ham);
	double p = sr + hr > 0 ? sr / (sr + hr) : ROBINSON_X;

	if (p > 1.0)
		p = 1.0; /* counts above the totals (pruned totals) */
	return (ROBINSON_S * ROBINSON_X + n * p) / (ROBINSON_S + n);
}

/* The chi-square survival function of x2 with v (even) degrees of
 * freedom: P(chi2 >= x2). */
static double chi2q(double x2, unsigned v)
{
	double m = x2 / 2.0, term = exp(-m), sum = term;

	for (unsigned i = 1; i < v / 2; i++) {
		term *= m / i;
		sum += term;
	}
	return sum < 1.0 ? sum : 1.0;
}

/* qsort order: strongest first, then by f for a stable result. */
static int cmp_strength(const void *a, const void *b)
{
	const struct prob *x = a, *y = b;

	if (x->strength != y->strength)
		return x->strength < y->strength ? 1 : -1;
	return x->f < y->f ? -1 : x->f > y->f;
}

/* Fisher's combination of the first n of p. */
static double fisher(const struct prob *p, size_t n)
{
	double ln_f = 0.0, ln_1f = 0.0, s, h;

	if (n == 0)
		return 0.5;
	for (size_t i = 0; i < n; i++) {
		ln_f += log(p[i].f);
		ln_1f += log(1.0 - p[i].f);
	}
	s = 1.0 - chi2q(-2.0 * ln_1f, 2 * (unsigned)n);
	h = 1.0 - chi2q(-2.0 * ln_f, 2 * (unsigned)n);
	return (1.0 + s - h) / 2.0;
}

/* The combined spam probability of n tokens with their counts. */
double mc_bayes_score(const struct mc_bayes *bayes, const int64_t *spam,
		      const int64_t *ham, size_t n, uint64_t spam_total,
		      uint64_t ham_total, struct mc_bayes_result *result_r)
{
	struct prob *p = mc_calloc(n + 1, sizeof(*p));
	size_t k = 0;
	double score;

	for (size_t i = 0; i < n; i++) {
		if (spam[i] + ham[i] < (int64_t)bayes->set.min_token_count)
			continue;
		p[k].f = robinson(spam[i], ham[i], (double)spam_total,
				  (double)ham_total);
		p[k].strength = fabs(p[k].f - 0.5);
		k++;
	}
	qsort(p, k, sizeof(*p), cmp_strength);
	result_r->known = (unsigned)k;
	if (k > bayes->set.max_significant)
		k = bayes->set.max_significant;
	result_r->used = (unsigned)k;
	score = fisher(p, k);
	free(p);
	return score;
}
