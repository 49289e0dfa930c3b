#include <string>

namespace geo {

// A circle.
class Circle {
 public:
  explicit Circle(double r) : r_(r) {}
  double area() const;
  std::string name() const { return "circle"; }

 private:
  double r_;
};

double Circle::area() const { return 3.14159 * r_ * r_; }

double total_area(const Circle& a, const Circle& b) {
  return a.area() + b.area();
}

}  // namespace geo
