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

use serde::{Deserialize, Serialize};

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
    fn exact_string_voting_is_available_as_in_the_book() {
        let vote = majority_vote_by(&strings(&["0.5", r"\frac{1}{2}", "2", "2"]), str::to_string);
        assert_eq!(vote.answer(), Some("2"));
    }
}
