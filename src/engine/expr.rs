//! The expression language of `shadergrad grad`: numbers, variables, `+ - * / ^`, unary minus,
//! parentheses and the functions of the kernel set. An expression becomes a graph whose gates
//! are the seeds' gates: a constant operand folds into a unary gate (`*-1`, `+1`, `^2`), so the
//! circuit drawn is the one CS231n draws.

use crate::engine::error::{Error, Result};
use crate::engine::graph::{Graph, Tensor};
use crate::engine::op::{BinaryOp, Broadcast, Role, UnaryOp};
use crate::engine::shape::Shape;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Num(f64),
    Ident(String),
    Sym(char),
}

#[derive(Clone, Debug)]
enum Ast {
    Num(f64),
    Var(String, usize),
    Neg(Box<Ast>),
    Bin(char, Box<Ast>, Box<Ast>),
    Call(String, Vec<Ast>, usize),
}

/// What a name called in an expression computes.
#[derive(Clone, Copy, Debug)]
enum Function {
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `log_softmax(x1, ..., xn)`: the log-probability of the first argument under the softmax
    /// of all of them, `x1 − ln Σ e^xi` (a row of logits is a row of scalars here).
    LogSoftmax,
}

/// The function a name calls: every unary op the op table marks as an activation or a function
/// (`ln` is `log`), the binary `max`, `min` and `pow`, and `log_softmax`.
fn function(name: &str) -> Option<Function> {
    let name = if name == "ln" { "log" } else { name };
    let unary = UnaryOp::with_role(Role::Activation).chain(UnaryOp::with_role(Role::Function));
    if let Some(op) = unary.into_iter().find(|op| op.name() == name) {
        return Some(Function::Unary(op));
    }
    match name {
        "max" => Some(Function::Binary(BinaryOp::Max)),
        "min" => Some(Function::Binary(BinaryOp::Min)),
        "pow" => Some(Function::Binary(BinaryOp::Pow)),
        "log_softmax" => Some(Function::LogSoftmax),
        _ => None,
    }
}

/// The functions an expression may call, with their arguments, for messages and help.
///
/// ```
/// let f = shadergrad::expr::functions();
/// assert!(f.contains(&("softplus".to_string(), "x".to_string())));
/// assert!(f.contains(&("leaky_relu".to_string(), "x[, alpha]".to_string())));
/// ```
pub fn functions() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = UnaryOp::with_role(Role::Activation)
        .chain(UnaryOp::with_role(Role::Function))
        .map(|op| {
            let args = if op.takes_constant() { "x[, alpha]" } else { "x" };
            (op.name().to_string(), args.to_string())
        })
        .collect();
    out.push(("ln".into(), "x".into()));
    for name in ["max", "min", "pow"] {
        out.push((name.into(), "a, b".into()));
    }
    out.push(("log_softmax".into(), "x1, ..., xn".into()));
    out
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<(Token, usize)>,
    pos: usize,
    /// How deeply the parser has recursed, bounded so no input can overflow the stack.
    depth: usize,
}

/// Nesting (parentheses, unary signs, powers, calls) deeper than this is refused.
const MAX_DEPTH: usize = 200;

/// Longer expressions are refused: building the graph recurses once per operator.
const MAX_TOKENS: usize = 4096;

fn parse_error(src: &str, column: usize, message: impl Into<String>) -> Error {
    Error::Parse {
        message: message.into(),
        column,
        source_text: src.to_string(),
        caret: format!("{}^", " ".repeat(column.saturating_sub(1))),
    }
}

fn tokenize(src: &str) -> Result<Vec<(Token, usize)>> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // An exponent: 1e-3, 2.5E4.
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            let v = text
                .parse::<f64>()
                .map_err(|_| parse_error(src, column, format!("`{text}` is not a number")))?;
            out.push((Token::Num(v), column));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Token::Ident(chars[start..i].iter().collect()), column));
        } else if "+-*/^(),".contains(c) {
            out.push((Token::Sym(c), column));
            i += 1;
        } else {
            return Err(parse_error(src, column, format!("unexpected character `{c}`")));
        }
    }
    Ok(out)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn column(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.src.chars().count() + 1, |(_, c)| *c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Sym(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            let found = match self.peek() {
                None => "the end".to_string(),
                Some(Token::Num(v)) => format!("`{v}`"),
                Some(Token::Ident(s)) => format!("`{s}`"),
                Some(Token::Sym(s)) => format!("`{s}`"),
            };
            Err(parse_error(
                self.src,
                self.column(),
                format!("expected `{c}` but found {found}"),
            ))
        }
    }

    fn expr(&mut self) -> Result<Ast> {
        let mut lhs = self.term()?;
        while let Some(Token::Sym(op @ ('+' | '-'))) = self.peek().cloned() {
            self.pos += 1;
            lhs = Ast::Bin(op, Box::new(lhs), Box::new(self.term()?));
        }
        Ok(lhs)
    }

    fn term(&mut self) -> Result<Ast> {
        let mut lhs = self.unary()?;
        while let Some(Token::Sym(op @ ('*' | '/'))) = self.peek().cloned() {
            self.pos += 1;
            lhs = Ast::Bin(op, Box::new(lhs), Box::new(self.unary()?));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Ast> {
        self.depth += 1;
        let result = self.unary_inner();
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<Ast> {
        if self.depth > MAX_DEPTH {
            return Err(parse_error(
                self.src,
                self.column(),
                format!("the expression nests more than {MAX_DEPTH} levels deep"),
            ));
        }
        if self.eat('-') {
            return Ok(Ast::Neg(Box::new(self.unary()?)));
        }
        if self.eat('+') {
            return self.unary();
        }
        self.power()
    }

    /// `a ^ b`, right-associative and binding tighter than unary minus: `-x^2 = -(x^2)`.
    fn power(&mut self) -> Result<Ast> {
        let base = self.atom()?;
        if self.eat('^') {
            return Ok(Ast::Bin('^', Box::new(base), Box::new(self.unary()?)));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Ast> {
        let column = self.column();
        match self.peek().cloned() {
            Some(Token::Num(v)) => {
                self.pos += 1;
                Ok(Ast::Num(v))
            }
            Some(Token::Ident(name)) => {
                self.pos += 1;
                if self.eat('(') {
                    let mut args = vec![self.expr()?];
                    while self.eat(',') {
                        args.push(self.expr()?);
                    }
                    self.expect(')')?;
                    Ok(Ast::Call(name, args, column))
                } else {
                    Ok(Ast::Var(name, column))
                }
            }
            Some(Token::Sym('(')) => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect(')')?;
                Ok(e)
            }
            Some(Token::Sym(c)) => Err(parse_error(
                self.src,
                column,
                format!("expected a number, variable, function or `(` but found `{c}`"),
            )),
            None => Err(parse_error(self.src, column, "the expression ends too early")),
        }
    }
}

/// A value while building: a constant (folded into gates) or a tensor.
#[derive(Clone)]
enum Value {
    Const(f64),
    T(Tensor),
}

/// A parsed expression turned into a graph: its output and its variables (scalar inputs that
/// take gradients), in order of first appearance.
pub struct Expression {
    pub graph: Graph,
    pub output: Tensor,
    pub variables: Vec<(String, Tensor)>,
}

/// Parses `src` into a graph of scalar gates.
///
/// ```
/// use shadergrad::expr::parse;
/// let e = parse("(x + sigmoid(y)) / (sigmoid(x) + (x + y)^2)")?;
/// let names: Vec<_> = e.variables.iter().map(|(n, _)| n.as_str()).collect();
/// assert_eq!(names, ["x", "y"]);
/// assert!(parse("x +* y").err().unwrap().to_string().contains("column 4"));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub fn parse(src: &str) -> Result<Expression> {
    let tokens = tokenize(src)?;
    if tokens.is_empty() {
        return Err(parse_error(src, 1, "the expression is empty"));
    }
    if tokens.len() > MAX_TOKENS {
        let column = tokens[MAX_TOKENS].1;
        return Err(parse_error(
            src,
            column,
            format!("the expression is longer than {MAX_TOKENS} tokens"),
        ));
    }
    let mut p = Parser {
        src,
        tokens,
        pos: 0,
        depth: 0,
    };
    let ast = p.expr()?;
    if p.pos < p.tokens.len() {
        let column = p.column();
        return Err(parse_error(
            src,
            column,
            "unexpected text after the end of the expression",
        ));
    }
    let graph = Graph::new();
    let mut b = Builder {
        src,
        graph: graph.clone(),
        variables: Vec::new(),
    };
    let output = match b.build(&ast)? {
        Value::T(t) => t,
        Value::Const(c) => graph.scalar(c),
    };
    graph.check()?;
    Ok(Expression {
        graph,
        output: output.named("f"),
        variables: b.variables,
    })
}

struct Builder<'a> {
    src: &'a str,
    graph: Graph,
    variables: Vec<(String, Tensor)>,
}

impl Builder<'_> {
    fn var(&mut self, name: &str, column: usize) -> Result<Value> {
        if function(name).is_some() {
            return Err(parse_error(
                self.src,
                column,
                format!("`{name}` is a function: call it as {name}(...)"),
            ));
        }
        if let Some((_, t)) = self.variables.iter().find(|(n, _)| n == name) {
            return Ok(Value::T(t.clone()));
        }
        let t = self.graph.input(name, []).with_grad();
        self.variables.push((name.to_string(), t.clone()));
        Ok(Value::T(t))
    }

    fn tensor(&self, v: Value) -> Tensor {
        match v {
            Value::T(t) => t,
            Value::Const(c) => self.graph.scalar(c),
        }
    }

    fn build(&mut self, ast: &Ast) -> Result<Value> {
        Ok(match ast {
            Ast::Num(v) => Value::Const(*v),
            Ast::Var(name, column) => self.var(name, *column)?,
            Ast::Neg(e) => match self.build(e)? {
                Value::Const(c) => Value::Const(-c),
                Value::T(t) => Value::T(-&t),
            },
            Ast::Bin(op, l, r) => {
                let (l, r) = (self.build(l)?, self.build(r)?);
                match (*op, l, r) {
                    ('+', Value::Const(a), Value::Const(b)) => Value::Const(a + b),
                    ('-', Value::Const(a), Value::Const(b)) => Value::Const(a - b),
                    ('*', Value::Const(a), Value::Const(b)) => Value::Const(a * b),
                    ('/', Value::Const(a), Value::Const(b)) => Value::Const(a / b),
                    ('^', Value::Const(a), Value::Const(b)) => Value::Const(a.powf(b)),
                    ('+', Value::T(t), Value::Const(c)) | ('+', Value::Const(c), Value::T(t)) => {
                        Value::T(t.add_scalar(c))
                    }
                    ('-', Value::T(t), Value::Const(c)) => Value::T(t.add_scalar(-c)),
                    ('-', Value::Const(c), Value::T(t)) => Value::T((-&t).add_scalar(c)),
                    ('*', Value::T(t), Value::Const(c)) | ('*', Value::Const(c), Value::T(t)) => Value::T(t.scale(c)),
                    ('/', Value::T(t), Value::Const(c)) => Value::T(t.scale(1.0 / c)),
                    ('/', Value::Const(c), Value::T(t)) => {
                        let r = t.recip();
                        Value::T(if c == 1.0 { r } else { r.scale(c) })
                    }
                    ('^', Value::T(t), Value::Const(2.0)) => Value::T(t.square()),
                    ('^', Value::T(t), Value::Const(p)) => Value::T(t.powf(p)),
                    (op, l, r) => {
                        let (a, b) = (self.tensor(l), self.tensor(r));
                        let op = match op {
                            '+' => BinaryOp::Add,
                            '-' => BinaryOp::Sub,
                            '*' => BinaryOp::Mul,
                            '/' => BinaryOp::Div,
                            _ => BinaryOp::Pow,
                        };
                        Value::T(a.zip(op, &b))
                    }
                }
            }
            Ast::Call(name, args, column) => self.call(name, args, *column)?,
        })
    }

    fn call(&mut self, name: &str, args: &[Ast], column: usize) -> Result<Value> {
        let Some(f) = function(name) else {
            let known: Vec<String> = functions().into_iter().map(|(f, _)| f).collect();
            return Err(parse_error(
                self.src,
                column,
                format!("unknown function `{name}` (known: {})", known.join(", ")),
            ));
        };
        let mut values = Vec::new();
        for a in args {
            values.push(self.build(a)?);
        }
        let arity_error = || {
            let signature = functions()
                .into_iter()
                .find(|(f, _)| f == name)
                .map_or(String::new(), |(_, s)| s);
            parse_error(
                self.src,
                column,
                format!("{name} takes ({signature}), not {} argument(s)", values.len()),
            )
        };
        match (f, values.len()) {
            (Function::Unary(op), 1 | 2) => {
                let op = match values.get(1) {
                    None => op,
                    Some(_) if !op.takes_constant() => return Err(arity_error()),
                    Some(Value::Const(c)) => op.with_constant(*c),
                    Some(Value::T(_)) => {
                        return Err(parse_error(
                            self.src,
                            column,
                            format!("the alpha of {name} must be a number"),
                        ))
                    }
                };
                Ok(match &values[0] {
                    Value::Const(c) => Value::Const(op.f(*c)),
                    Value::T(t) => Value::T(t.map(op)),
                })
            }
            (Function::Binary(op), 2) => {
                if let (Value::Const(a), Value::Const(b)) = (&values[0], &values[1]) {
                    return Ok(Value::Const(op.f(*a, *b)));
                }
                let (a, b) = (self.tensor(values[0].clone()), self.tensor(values[1].clone()));
                Ok(Value::T(a.zip(op, &b)))
            }
            (Function::LogSoftmax, n) if n >= 1 => Ok(self.log_softmax_of_first(&values)),
            _ => Err(arity_error()),
        }
    }

    /// `x1 − ln Σ e^xi`: the scalars spread into a row (each broadcast over `[1, n]` and kept in
    /// its column by a one-hot constant), the row's log-softmax, and its first column.
    fn log_softmax_of_first(&mut self, values: &[Value]) -> Value {
        let n = values.len();
        if let Some(xs) = values
            .iter()
            .map(|v| match v {
                Value::Const(c) => Some(*c),
                Value::T(_) => None,
            })
            .collect::<Option<Vec<f64>>>()
        {
            let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            return Value::Const(xs[0] - max - xs.iter().map(|x| (x - max).exp()).sum::<f64>().ln());
        }
        let row_shape = Shape::from([1, n]);
        let onehot = |g: &Graph, k: usize| {
            let mut v = vec![0.0; n];
            v[k] = 1.0;
            g.constant(&format!("e{}", k + 1), [1, n], v)
        };
        let columns: Vec<Tensor> = values
            .iter()
            .enumerate()
            .map(|(k, v)| &self.tensor(v.clone()).broadcast(Broadcast::Scalar, &row_shape) * &onehot(&self.graph, k))
            .collect();
        // `values` is never empty here (the caller matched n >= 1).
        let row = columns[1..].iter().fold(columns[0].clone(), |row, c| &row + c);
        Value::T((&row.log_softmax() * &onehot(&self.graph, 0)).sum())
    }
}
