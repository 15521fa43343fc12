//! A table as people bring them, for the tests of reading tables (library and command line).

use super::Rng;

/// A table as people bring them: the index pandas writes (an empty header over row numbers), a
/// name per row, an island (three common, one seen twice), a sex with `NA`s, a ticket class
/// written as text, a count, a bill length with missing cells written three ways, a column of
/// nothing, and the species to learn (text), which follows the bill and the island.
pub fn messy(rows: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::from(",name,island,sex,ticket,count,bill,notes,species\n");
    for i in 0..rows {
        let island = match i {
            7 | 19 => "Atlantis",
            _ => ["Biscoe", "Dream", "Torgersen"][rng.next_u64() as usize % 3],
        };
        let sex = ["male", "female", "NA"][rng.next_u64() as usize % 3];
        let ticket = ["1st class", "2nd class", "3rd class"][rng.next_u64() as usize % 3];
        let count = rng.next_u64() % 6;
        let bill = rng.uniform(35.0, 55.0);
        let species = if bill < 42.0 {
            "Adelie"
        } else if island == "Dream" {
            "Chinstrap"
        } else {
            "Gentoo"
        };
        let bill = match i % 10 {
            3 => "NA".to_string(),
            6 => String::new(),
            9 if i % 20 == 9 => "?".to_string(),
            _ => format!("{bill:.1}"),
        };
        out += &format!("{i},p{i:04},{island},{sex},{ticket},{count},{bill},,{species}\n");
    }
    out
}
