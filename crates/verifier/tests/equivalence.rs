//! One test per equivalence family of the issue: each asserts forms that must agree and
//! near-misses that must not.

use reasoning_verifier::{Reason, answer_key, grade, grade_answer};

fn same(pairs: &[(&str, &str)]) {
    for (a, b) in pairs {
        assert!(
            grade_answer(a, b),
            "expected equal: {a:?} vs {b:?}\n{}",
            grade(a, b)
        );
        assert!(
            grade_answer(b, a),
            "expected equal (swapped): {b:?} vs {a:?}\n{}",
            grade(b, a)
        );
    }
}

fn different(pairs: &[(&str, &str)]) {
    for (a, b) in pairs {
        assert!(
            !grade_answer(a, b),
            "expected different: {a:?} vs {b:?}\n{}",
            grade(a, b)
        );
        assert!(
            !grade_answer(b, a),
            "expected different (swapped): {b:?} vs {a:?}\n{}",
            grade(b, a)
        );
    }
}

#[test]
fn integers_fractions_and_decimals_compare_exactly() {
    same(&[
        (r"\frac{1}{2}", "0.5"),
        ("0.5", "1/2"),
        (r"\dfrac12", r"\frac12"),
        (r"\tfrac{2}{4}", "1/2"),
        ("-3", "−3"),
        (".35625", "0.35625"),
        ("1e-3", "0.001"),
        (r"0.\overline{3}", r"\frac13"),
        (r"6.02 \times 10^{23}", "602000000000000000000000"),
        ("7", "7.000"),
    ]);
    different(&[
        ("0.333", "1/3"),
        ("0.3333333333", r"\frac{1}{3}"),
        ("14/3", "15/3"),
        ("-1/2", "1/2"),
    ]);
}

#[test]
fn mixed_numbers_add_their_whole_and_fraction() {
    same(&[
        (r"137 \frac{1}{2}", "275/2"),
        (r"1\frac{4}{5}", "9/5"),
        ("2 3/4", "11/4"),
        (r"15\frac{39}{40}", r"\frac{639}{40}"),
    ]);
    different(&[("1371/2", r"137 \frac{1}{2}")]);
}

#[test]
fn radicals_reduce_to_square_free_form() {
    same(&[
        (r"2\sqrt{2}", r"\sqrt{8}"),
        (r"\sqrt{72}", r"6\sqrt2"),
        (r"\frac{\sqrt{8}}{2}", "sqrt(2)"),
        (r"\frac{1}{\sqrt{2}}", r"\frac{\sqrt{2}}{2}"),
        (r"\frac{1}{1+\sqrt{2}}", r"\sqrt{2}-1"),
        (r"\sqrt{2}\sqrt{3}", r"\sqrt6"),
        (r"\sqrt[3]{16}", r"2\sqrt[3]{2}"),
        (r"\sqrt[3]{-8}", "-2"),
        (r"3\sqrt{13}", "3*sqrt(13)"),
        (r"11\sqrt2", r"11\sqrt{2}"),
    ]);
    different(&[
        (r"\sqrt{2}", "1.41421356"),
        (r"2\sqrt{5}", r"\sqrt{5}"),
        (r"\sqrt{8}", r"2\sqrt{3}"),
    ]);
}

#[test]
fn pi_e_logarithms_and_trigonometry_evaluate_exactly() {
    same(&[
        (r"\frac{\pi}{2}", "pi/2"),
        (r"288 \pi", "288pi"),
        ("e^2", r"e \cdot e"),
        (r"\log_2 8", "3"),
        (r"\ln(e^3)", "3"),
        (r"\log_{10} 1000", "3"),
        (r"2^{\log_2 5}", "5"),
        (r"\sin \frac{\pi}{6}", "1/2"),
        (r"\cos 60^\circ", "0.5"),
        (r"\tan\frac{\pi}{3}", r"\sqrt{3}"),
        (r"\arcsin \frac12", r"\frac{\pi}{6}"),
        ("5!", "120"),
        (r"\binom{5}{2}", "10"),
    ]);
    different(&[
        (r"\pi", "3.14159"),
        (r"\frac{\pi}{4}", r"45^\circ"),
        (r"\log_2 8", "2"),
    ]);
}

#[test]
fn powers_and_implicit_multiplication_read_as_written() {
    same(&[
        ("2^{10}", "1024"),
        ("2^10", "1024"),
        ("x²", "x^2"),
        ("2x", "x2"),
        ("xy", "yx"),
        (r"x^{2}y", "x^2 y"),
        ("2**3", "8"),
    ]);
    different(&[("2^{10}", "20"), ("-2^2", "4")]);
}

#[test]
fn expressions_in_variables_agree_as_functions() {
    same(&[
        ("(x+1)^2", "x^2+2x+1"),
        ("(a+b)^3", "a^3+3a^2b+3ab^2+b^3"),
        (r"\frac{x^2-1}{x-1}", "x+1"),
        (r"\frac{a}{b}", "a/b"),
        ("p - q", "p-q"),
        ("6r^2 -4r -24", "6r^2-4r-24"),
        ("(a + 5)(b + 2)", "(a+5)(b+2)"),
    ]);
    different(&[
        ("(x+1)^2", "x^2+x+1"),
        ("a/b", "b/a"),
        (
            "x^5 - x^4 + x^3 - x^2 + x - 1",
            "x^5 + x^4 + x^3 + x^2 + x - 1",
        ),
        (r"\frac{11+9a}{20}", "11+9a/20"),
    ]);
}

#[test]
fn complex_numbers_compare_by_real_and_imaginary_parts() {
    same(&[
        ("3+4i", "4i+3"),
        ("(1+i)^2", "2i"),
        (r"\frac{1}{1+i}", r"\frac{1-i}{2}"),
        ("6 + 9i", "6+9i"),
        (r"\sqrt{-4}", "2i"),
    ]);
    different(&[("1+2i", "1-2i"), ("2i", "2")]);
}

#[test]
fn tuples_are_ordered_and_pairs_keep_their_brackets() {
    same(&[
        ("(1, 2)", "(1,2)"),
        (r"\left( 3, \frac{\pi}{2} \right)", "(3,pi/2)"),
        (r"\langle 1, 2, 3 \rangle", "(1,2,3)"),
    ]);
    different(&[
        ("(2, 1)", "(1, 2)"),
        ("(1, 2, 3)", "(1, 2)"),
        ("(1, 2)", "[1, 2]"),
    ]);
}

#[test]
fn intervals_respect_bracket_kinds_and_unions_merge() {
    same(&[
        ("(0, 1]", "(0,1]"),
        (
            r"(-\infty, 2) \cup (3, \infty)",
            r"(3,\infty)\cup(-\infty,2)",
        ),
        (r"(0,9) \cup (9,36)", r"(0, 36) \setminus \{9\}"),
        (r"[0,1] \cup [1,2)", "[0,2)"),
        (r"\mathbb{R}", r"(-\infty,\infty)"),
        (r"x \in [-2,7]", "[-2,7]"),
        (r"-2 \le x \le 7", "[-2,7]"),
        ("x > 2", r"(2, \infty)"),
        (r"x \neq 3", r"(-\infty,3)\cup(3,\infty)"),
    ]);
    different(&[
        ("(0,1]", "[0,1]"),
        (r"(-\infty, 0]", r"(-\infty, 0)"),
        (
            r"(-\infty, 2) \cup (3, \infty)",
            r"(-\infty, 2] \cup [3, \infty)",
        ),
        (r"(5,\infty)", r"(-\infty, 5) \cup (5, \infty)"),
    ]);
}

#[test]
fn sets_and_solution_lists_ignore_order() {
    same(&[
        ("1, -2", "-2, 1"),
        ("3, 5, 7", "3, 7, 5"),
        (r"\{1,2\}", r"\{2,1\}"),
        (r"\{5\}", "5"),
        (r"\pm 2", "-2, 2"),
        (r"1 \pm \sqrt{19}", r"1+\sqrt{19}, 1-\sqrt{19}"),
        (
            r"\frac{3 \pm \sqrt{5}}{2}",
            r"\frac{3+\sqrt5}{2}, \frac{3-\sqrt5}{2}",
        ),
        (r"\{1\pm\sqrt{5},-2\}", r"-2, 1+\sqrt5, 1-\sqrt5"),
        (r"2 \text{ and } 3", "3, 2"),
        (r"\emptyset", r"\{\}"),
    ]);
    different(&[
        ("1, -2", "1"),
        ("1, 2, 3", "1, 2"),
        (r"\{1, 2\}", r"\{1, 3\}"),
    ]);
}

#[test]
fn matrices_compare_entrywise_and_vectors_equal_tuples() {
    same(&[
        (
            r"\begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix}",
            r"\begin{pmatrix} -\frac{1}{3} \\ \frac{2}{3} \\ \frac{5}{3} \end{pmatrix}",
        ),
        (
            r"\begin{pmatrix}1&2\\3&4\end{pmatrix}",
            r"\begin{bmatrix}1&2\\3&4\end{bmatrix}",
        ),
        (r"\begin{pmatrix}1\\2\end{pmatrix}", "(1,2)"),
        (
            r"\beginpmatrix-1&0\\0&-1\endpmatrix",
            r"\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}",
        ),
    ]);
    different(&[(
        r"\begin{pmatrix}1&2\\3&4\end{pmatrix}",
        r"\begin{pmatrix}1&3\\2&4\end{pmatrix}",
    )]);
}

#[test]
fn equations_agree_up_to_a_constant_factor_and_bare_values_match() {
    same(&[
        ("x = 3", "3"),
        ("x=5", "5"),
        ("y = 2x+3", "2x - y + 3 = 0"),
        ("y = 2x + 3", "y=2x+3"),
        ("5x - 7y + 11z + 4 = 0", "10x-14y+22z+8=0"),
        (r"x = \pm 2", "2, -2"),
        ("x = 2, x = 3", "3, 2"),
    ]);
    different(&[
        ("y = 2x+3", "y=2x+4"),
        ("x^2 = 4", "x = 2"),
        ("x = 5", "x = 6"),
        (
            r"m= \frac{3}{2}, \ b=-1",
            r"\left( \frac{3}{2}, -13 \right)",
        ),
    ]);
}

#[test]
fn inequalities_agree_up_to_a_positive_factor() {
    same(&[
        ("2 < x", "x > 2"),
        ("x + y < 3", "y < 3 - x"),
        ("2x + 2y \\le 6", "x + y \\le 3"),
    ]);
    different(&[("x + y < 3", "x + y > 3"), ("x + y < 3", "x + y \\le 3")]);
}

#[test]
fn degrees_percent_currency_and_units_are_decorations() {
    same(&[
        (r"90^\circ", "90"),
        ("30°", "30"),
        (r"30^{\circ}", "30"),
        (r"20\%", "20"),
        (r"\$18.90", "18.9"),
        (r"\$32,\!348", "32348"),
        (r"5.4 \text{ cents}", "5.4"),
        (r"864 \mbox{ inches}^2", "864"),
        ("15 cm^2", "15"),
        (r"12^{\mathrm{th}} grade", "12"),
        (r"\frac{270}7\text{ degrees}", r"\frac{270}{7}"),
    ]);
    different(&[("50%", "1/2"), (r"5.4 \text{ cents}", "5.1")]);
}

#[test]
fn thousands_separators_join_digits_but_lists_stay_lists() {
    same(&[
        ("1,000", "1000"),
        (r"10\,000", "10000"),
        (r"11,\! 111,\! 111,\! 100", "11,111,111,100"),
        ("58,500", "58500"),
        ("1,234/2", "617"),
        ("1,000,000", "10^6"),
        ("10 000", "10000"),
    ]);
    different(&[
        ("1,23", "123"),
        ("(100,200)", "100200"),
        ("1 2", "12"),
        ("1 2", "2"),
    ]);
}

#[test]
fn based_numerals_match_their_digits_not_their_decimal_value() {
    same(&[
        ("1011_2", "1011_{2}"),
        ("1011_2", "23_4"),
        ("52_8", "52"),
        ("4210_{5}", "4210"),
        ("A3_{16}", "163_{10}"),
    ]);
    different(&[("1011_2", "11"), ("52_8", "42"), ("52_8", "53_8")]);
}

#[test]
fn text_answers_compare_ignoring_case() {
    same(&[
        (r"\text{Evelyn}", "evelyn"),
        (r"\text{(C)}", "C"),
        (r"\text{(C)}", "c"),
        ("(C)", "C"),
        (r"\text{east}", "East"),
        ("yes", "Yes"),
    ]);
    different(&[
        (r"\text{Evelyn}", "Angela"),
        (r"\text{Navin}", "Ian"),
        ("east", "eats"),
    ]);
}

#[test]
fn empty_and_unreadable_answers_are_wrong() {
    assert_eq!(grade("", "1").reason, Reason::Empty);
    assert_eq!(grade("   ", "1").reason, Reason::Empty);
    assert!(!grade_answer(r"\frac3*sqrt(3)4", r"\frac{3\sqrt{3}}{4}"));
    assert_eq!(
        grade(r"\frac3*sqrt(3)4", r"\frac{3\sqrt{3}}{4}").reason,
        Reason::Unreadable
    );
    assert!(!grade_answer("ANSWER", r"\sqrt{53}"));
}

#[test]
fn verdict_shows_both_readings() {
    let v = grade("0.5", r"\dfrac{1}{2}");
    assert!(v.correct);
    assert_eq!(v.reason, Reason::Equivalent);
    assert_eq!(v.pred.value.as_deref(), Some("1/2"));
    assert_eq!(v.gt.value.as_deref(), Some("1/2"));
    assert_eq!(v.gt.normalized, "(1)/(2)");
    let v = grade("(x+1)^2", "x^2+2x+1");
    assert_eq!(v.pred.parsed.as_deref(), Some("(x + 1)^2"));
    assert!(
        v.to_string()
            .starts_with("correct (mathematically equivalent)")
    );
}

#[test]
fn voting_keys_merge_equivalent_answers() {
    assert_eq!(answer_key("0.5"), answer_key(r"\frac{1}{2}"));
    assert_eq!(answer_key("1, -2"), answer_key(r"\{-2, 1\}"));
    assert_eq!(answer_key("x = 3"), answer_key("3"));
    assert_eq!(answer_key("(x+1)^2"), answer_key("x^2+2x+1"));
    assert_eq!(answer_key(r"2\sqrt2"), answer_key(r"\sqrt{8}"));
    assert_eq!(answer_key(r"\text{Evelyn}"), answer_key("evelyn"));
    assert_ne!(answer_key("1/3"), answer_key("0.333"));
    assert_ne!(answer_key("(1,2)"), answer_key("(2,1)"));
    assert_ne!(answer_key("x+1"), answer_key("x+2"));
}
