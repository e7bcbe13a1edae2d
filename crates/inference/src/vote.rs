//! Majority voting over extracted answers: self-consistency (book chapter 4, section 4.5).
//!
//! ```text
//! a_1 .. a_N          final answers extracted from N sampled responses
//! key(a)              the verifier's canonical key: 1/2, 0.5 and \frac{1}{2} share one
//! c(k) = |{i : key(a_i) = k}|
//! winners = argmax_k c(k)        (every key with the largest count)
//! answer  = the winner if it is unique, else none (a tie)
//! ```
//!
//! **Departure from the book.** The book counts exact answer strings (`Counter(short_answers)`),
//! so `0.5` and `\frac{1}{2}` split their votes. Here votes are grouped by
//! [`reasoning_verifier::answer_key`]; the group's answer is its first member as written. A tie
//! gives no answer, as the book's `self_consistency_vote` does; its evaluation scripts then take
//! the tied group seen first ([`Vote::answer_or_first`]).
//!
//! **Early stop.** Once one group holds more than half of all N planned votes, no later sample
//! can change the outcome; the book's `early_stop` stops there ([`Vote::is_decided`]).
//!
//! **Weighted rules (not in the book).** The self-consistency paper (Wang et al., 2023,
//! "Self-Consistency Improves Chain of Thought Reasoning in Language Models", table 1) also
//! weights each vote by the model's own confidence in its sample, the exponentiated mean token
//! log-probability `w_i = exp((1/|y_i|) Σ_t log p(y_i,t | x, y_i,<t))`:
//!
//! ```text
//! logprob-tie-break   winners = argmax_k c(k); among tied winners keep the group with the
//!                     highest mean w_i (one group unless the means tie too)
//! logprob-weighted    winners = argmax_k Σ_{i : key(a_i) = k} w_i
//! ```
//!
//! [`VoteRule`] names the three rules; [`break_ties`] and [`weighted_vote`] apply the two
//! weighted ones. With N = 5 samples a tie of 2 against 2 is common, and the book's rule then
//! keeps whichever tied answer happened to be sampled first.

use serde::{Deserialize, Serialize};

/// How the answers of a self-consistency vote pick the winner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VoteRule {
    /// The book's majority: most votes; a tie keeps the tied answer seen first.
    #[default]
    Majority,
    /// Majority; a tie goes to the tied group whose samples have the highest mean confidence
    /// `exp(mean token log-prob)`.
    LogprobTieBreak,
    /// Each vote counts its sample's confidence `exp(mean token log-prob)` (the
    /// self-consistency paper's normalised weighted sum).
    LogprobWeighted,
    /// Majority; a tie goes to the tied group holding the sample with the highest
    /// [`crate::heuristic_score`], the first-seen group on an exact tie (the book's
    /// `self_consistency_scorer_math500.py --scoring heuristic`).
    HeuristicTieBreak,
}

impl VoteRule {
    /// The rule's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            VoteRule::Majority => "majority",
            VoteRule::LogprobTieBreak => "logprob-tie-break",
            VoteRule::LogprobWeighted => "logprob-weighted",
            VoteRule::HeuristicTieBreak => "heuristic-tie-break",
        }
    }

    /// Whether the rule needs each sample's confidence `exp(mean token log-prob)`.
    pub fn needs_confidence(self) -> bool {
        matches!(self, VoteRule::LogprobTieBreak | VoteRule::LogprobWeighted)
    }
}

/// Answers that share a voting key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteGroup {
    /// The canonical key.
    pub key: String,
    /// The first member's answer, as written.
    pub answer: String,
    /// Indices of the answers in this group, ascending.
    pub members: Vec<usize>,
}

impl VoteGroup {
    /// Number of votes.
    pub fn count(&self) -> usize {
        self.members.len()
    }
}

/// The outcome of a vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Groups in order of first appearance.
    pub groups: Vec<VoteGroup>,
    /// Indices into `groups` of every group with the most votes, in order of first appearance.
    pub winners: Vec<usize>,
}

impl Vote {
    /// The majority answer, or `None` when nothing was voted or the top count is tied.
    pub fn answer(&self) -> Option<&str> {
        match self.winners.as_slice() {
            [only] => Some(self.groups[*only].answer.as_str()),
            _ => None,
        }
    }

    /// The majority answer, or on a tie the tied answer seen first (the book's evaluation
    /// scripts resolve ties this way).
    pub fn answer_or_first(&self) -> Option<&str> {
        self.winners
            .first()
            .map(|&g| self.groups[g].answer.as_str())
    }

    /// The winning group (the first on a tie).
    pub fn winning_group(&self) -> Option<&VoteGroup> {
        self.winners.first().map(|&g| &self.groups[g])
    }

    /// Whether one group already holds a strict majority of `planned` votes, so that no
    /// further vote can change the outcome (the book's early-stop rule, `count > N / 2`).
    pub fn is_decided(&self, planned: usize) -> bool {
        self.groups.iter().any(|g| 2 * g.count() > planned)
    }

    /// Number of answers counted.
    pub fn total(&self) -> usize {
        self.groups.iter().map(VoteGroup::count).sum()
    }
}

/// Votes over `answers`, grouping them by [`reasoning_verifier::answer_key`].
///
/// ```
/// use reasoning_inference::vote::majority_vote;
/// let answers = ["0.5", "2", r"\frac{1}{2}"].map(String::from);
/// let vote = majority_vote(&answers);
/// assert_eq!(vote.answer(), Some("0.5"));
/// assert_eq!(vote.groups[0].members, vec![0, 2]);
/// ```
pub fn majority_vote(answers: &[String]) -> Vote {
    majority_vote_by(answers, reasoning_verifier::answer_key)
}

/// Votes over `answers`, grouping them by `key`.
pub fn majority_vote_by(answers: &[String], key: impl Fn(&str) -> String) -> Vote {
    let mut groups: Vec<VoteGroup> = Vec::new();
    for (i, answer) in answers.iter().enumerate() {
        let k = key(answer);
        match groups.iter_mut().find(|g| g.key == k) {
            Some(g) => g.members.push(i),
            None => groups.push(VoteGroup {
                key: k,
                answer: answer.clone(),
                members: vec![i],
            }),
        }
    }
    let top = groups.iter().map(VoteGroup::count).max().unwrap_or(0);
    let winners = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.count() == top)
        .map(|(i, _)| i)
        .collect();
    Vote { groups, winners }
}

/// Narrows a tied vote to the tied group(s) whose members have the highest mean `weights[i]`
/// (`weights` indexed like the voted answers). A vote without a tie is returned unchanged.
///
/// ```
/// use reasoning_inference::vote::{break_ties, majority_vote};
/// let answers = ["8", "9", "9", "8"].map(String::from);
/// let vote = break_ties(majority_vote(&answers), &[0.5, 0.9, 0.8, 0.6]);
/// assert_eq!(vote.answer(), Some("9"));
/// ```
pub fn break_ties(mut vote: Vote, weights: &[f64]) -> Vote {
    if vote.winners.len() < 2 {
        return vote;
    }
    let mean =
        |g: &VoteGroup| g.members.iter().map(|&i| weights[i]).sum::<f64>() / g.count() as f64;
    let best = vote
        .winners
        .iter()
        .map(|&g| mean(&vote.groups[g]))
        .fold(f64::NEG_INFINITY, f64::max);
    let groups = &vote.groups;
    vote.winners.retain(|&g| mean(&groups[g]) == best);
    vote
}

/// Keeps, of several tied winners, the one group holding the highest `scores[i]` of any of
/// its members; an exact tie keeps the group seen first (the book's strict `>` in first-seen
/// order). A single winner is returned unchanged.
pub fn break_ties_by_best_member(mut vote: Vote, scores: &[f64]) -> Vote {
    if vote.winners.len() < 2 {
        return vote;
    }
    let best_of = |g: &VoteGroup| {
        g.members
            .iter()
            .map(|&i| scores[i])
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let mut best = vote.winners[0];
    for &g in &vote.winners[1..] {
        if best_of(&vote.groups[g]) > best_of(&vote.groups[best]) {
            best = g;
        }
    }
    vote.winners = vec![best];
    vote
}

/// Votes over `answers` where answer `i` counts `weights[i]` (grouped by
/// [`reasoning_verifier::answer_key`]); the winners are the groups with the largest weight sum.
///
/// ```
/// use reasoning_inference::vote::weighted_vote;
/// let answers = ["3", "4", "4"].map(String::from);
/// let vote = weighted_vote(&answers, &[0.9, 0.4, 0.4]);
/// assert_eq!(vote.answer(), Some("3"));
/// ```
pub fn weighted_vote(answers: &[String], weights: &[f64]) -> Vote {
    let mut vote = majority_vote(answers);
    let sum = |g: &VoteGroup| g.members.iter().map(|&i| weights[i]).sum::<f64>();
    let top = vote
        .groups
        .iter()
        .map(sum)
        .fold(f64::NEG_INFINITY, f64::max);
    vote.winners = (0..vote.groups.len())
        .filter(|&g| sum(&vote.groups[g]) == top)
        .collect();
    vote
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_most_frequent_answer_wins() {
        let vote = majority_vote(&strings(&["3", "4", "3", "5", "3"]));
        assert_eq!(vote.answer(), Some("3"));
        assert_eq!(vote.groups[0].members, vec![0, 2, 4]);
        assert_eq!(vote.total(), 5);
    }

    #[test]
    fn equivalent_answers_vote_together() {
        let vote = majority_vote(&strings(&[r"\frac{1}{2}", "7", "0.5", "7", r"\dfrac12"]));
        assert_eq!(vote.answer(), Some(r"\frac{1}{2}"));
        assert_eq!(vote.groups[0].count(), 3);
    }

    #[test]
    fn a_tie_gives_no_answer_but_the_first_tied_group_is_available() {
        let vote = majority_vote(&strings(&["8", "9", "9", "8"]));
        assert_eq!(vote.answer(), None);
        assert_eq!(vote.winners, vec![0, 1]);
        assert_eq!(vote.answer_or_first(), Some("8"));
    }

    #[test]
    fn no_answers_give_no_vote() {
        let vote = majority_vote(&[]);
        assert_eq!(vote.answer(), None);
        assert_eq!(vote.answer_or_first(), None);
        assert!(!vote.is_decided(5));
    }

    #[test]
    fn a_vote_is_decided_once_a_strict_majority_of_planned_votes_agree() {
        let vote = majority_vote(&strings(&["1", "1"]));
        assert!(!vote.is_decided(5), "2 of 5 is no majority");
        let vote = majority_vote(&strings(&["1", "2", "1", "1"]));
        assert!(vote.is_decided(5), "3 of 5 is");
        let vote = majority_vote(&strings(&["1", "1"]));
        assert!(
            !vote.is_decided(4),
            "2 of 4 is a tie at best, not a majority"
        );
    }

    #[test]
    fn a_tie_goes_to_the_more_confident_group() {
        let answers = strings(&["8", "9", "9", "8", "7"]);
        // group 8: mean(0.2, 0.9) = 0.55; group 9: mean(0.6, 0.7) = 0.65.
        let vote = break_ties(majority_vote(&answers), &[0.2, 0.6, 0.7, 0.9, 1.0]);
        assert_eq!(vote.answer(), Some("9"));
        assert_eq!(vote.winners, vec![1]);
    }

    #[test]
    fn a_clear_majority_ignores_the_confidences() {
        let answers = strings(&["8", "9", "8"]);
        let vote = break_ties(majority_vote(&answers), &[0.1, 1.0, 0.1]);
        assert_eq!(vote.answer(), Some("8"));
    }

    #[test]
    fn equal_confidences_leave_the_tie() {
        let answers = strings(&["8", "9"]);
        let vote = break_ties(majority_vote(&answers), &[0.5, 0.5]);
        assert_eq!(vote.winners, vec![0, 1]);
        assert_eq!(vote.answer(), None);
    }

    #[test]
    fn a_tie_goes_to_the_group_with_the_best_member_then_to_the_first_seen() {
        let answers = strings(&["3", "4", "4", "3", "5"]);
        let vote = majority_vote(&answers);
        assert_eq!(vote.winners.len(), 2);
        // "4" holds the best single score (0.9), though "3" has the better mean.
        let broken = break_ties_by_best_member(vote.clone(), &[0.8, 0.9, 0.1, 0.8, 5.0]);
        assert_eq!(broken.answer(), Some("4"));
        assert_eq!(broken.winners.len(), 1);
        let even = break_ties_by_best_member(vote, &[0.5, 0.5, 0.1, 0.2, 0.0]);
        assert_eq!(
            even.answer(),
            Some("3"),
            "an exact tie keeps the first-seen answer"
        );
    }

    #[test]
    fn weighted_votes_sum_per_group() {
        let answers = strings(&["3", "4", "4", "3"]);
        // 3: 0.3 + 0.3 = 0.6; 4: 0.25 + 0.5 = 0.75.
        let vote = weighted_vote(&answers, &[0.3, 0.25, 0.5, 0.3]);
        assert_eq!(vote.answer(), Some("4"));
        let vote = weighted_vote(&answers, &[0.4, 0.25, 0.3, 0.4]);
        assert_eq!(vote.answer(), Some("3"));
    }

    #[test]
    fn exact_string_voting_is_available_as_in_the_book() {
        let vote = majority_vote_by(&strings(&["0.5", r"\frac{1}{2}", "2", "2"]), str::to_string);
        assert_eq!(vote.answer(), Some("2"));
    }
}
