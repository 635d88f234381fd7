#pragma once

namespace umbra {

// std::visit over a set of lambdas: std::visit(Overloaded{[](const A&) {...}, ...}, v).
template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

}  // namespace umbra
