// 16550A UART register behaviour (PC16550D data sheet, sections 8.1-8.10).
#include "devices/uart16550/uart16550.h"

#include "core/inspect.h"
#include "core/state.h"
#include "devices/uart16550/spec/regs.h"

namespace hvsim {

using namespace uart16550;

Uart16550::Uart16550(const Uart16550Params& params) : params_(params) {}

void Uart16550::reset() {
  rx_.clear();
  ier_ = lcr_ = mcr_ = scr_ = fcr_ = 0;
  divisor_ = 12;
  thre_pending_ = false;
}

void Uart16550::receive(const std::string& bytes) {
  for (char c : bytes) rx_.push_back(static_cast<uint8_t>(c));
}

void Uart16550::transmit(uint8_t byte) {
  ++tx_bytes_;
  if (mcr_ & kMcrLoop) {
    rx_.push_back(byte);  // loopback: the byte comes straight back to the receiver
  } else if (sink_) {
    sink_(byte);
  }
  thre_pending_ = true;
}

uint8_t Uart16550::iir() const {
  uint8_t fifo = (fcr_ & kFcrEnable) ? kIirFifosEnabled : 0;
  if ((ier_ & kIerRxAvailable) && !rx_.empty()) return fifo | kIirRxAvailable;
  if ((ier_ & kIerThrEmpty) && thre_pending_) return fifo | kIirThrEmpty;
  return fifo | kIirNoInterrupt;
}

uint32_t Uart16550::io_read(uint16_t port, unsigned size) {
  switch (static_cast<Reg>((port - params_.base_port) & 7)) {
    case Reg::kRbrThrDll:
      if (lcr_ & kLcrDlab) return divisor_ & 0xFF;
      if (rx_.empty()) return 0;
      {
        uint8_t b = rx_.front();
        rx_.pop_front();
        ++rx_bytes_;
        return b;
      }
    case Reg::kIerDlm: return (lcr_ & kLcrDlab) ? divisor_ >> 8 : ier_;
    case Reg::kIirFcr: {
      uint8_t v = iir();
      if ((v & 0x0F) == kIirThrEmpty) thre_pending_ = false;  // reading IIR acknowledges THRE
      return v;
    }
    case Reg::kLcr: return lcr_;
    case Reg::kMcr: return mcr_;
    case Reg::kLsr: return kLsrThrEmpty | kLsrTransmitterEmpty | (rx_.empty() ? 0 : kLsrDataReady);
    case Reg::kMsr:
      // In loopback the modem inputs follow the outputs; otherwise report CTS, DSR, DCD.
      if (mcr_ & kMcrLoop)
        return ((mcr_ & 0x02) << 3) | ((mcr_ & 0x01) << 5) | ((mcr_ & 0x04) << 4) |
               ((mcr_ & 0x08) << 4);
      return 0xB0;
    case Reg::kScr: return scr_;
  }
  return 0xFF;
}

void Uart16550::io_write(uint16_t port, unsigned size, uint32_t value) {
  uint8_t v = static_cast<uint8_t>(value);
  switch (static_cast<Reg>((port - params_.base_port) & 7)) {
    case Reg::kRbrThrDll:
      if (lcr_ & kLcrDlab)
        divisor_ = (divisor_ & 0xFF00) | v;
      else
        transmit(v);
      break;
    case Reg::kIerDlm:
      if (lcr_ & kLcrDlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0x00FF) | (v << 8));
      } else {
        if ((v & kIerThrEmpty) && !(ier_ & kIerThrEmpty)) thre_pending_ = true;
        ier_ = v & 0x0F;
      }
      break;
    case Reg::kIirFcr:
      fcr_ = v & 0xC9;
      if (v & kFcrClearRx) rx_.clear();
      break;
    case Reg::kLcr: lcr_ = v; break;
    case Reg::kMcr: mcr_ = v & 0x1F; break;
    case Reg::kLsr: break;  // factory test register: writes ignored
    case Reg::kMsr: break;
    case Reg::kScr: scr_ = v; break;
  }
}

void Uart16550::save(StateWriter& w) const {
  w.begin_section(params_.name, 1);
  w.u8("ier", ier_);
  w.u8("lcr", lcr_);
  w.u8("mcr", mcr_);
  w.u8("scr", scr_);
  w.u8("fcr", fcr_);
  w.u32("divisor", divisor_);
  w.boolean("thre_pending", thre_pending_);
  std::string rx(rx_.begin(), rx_.end());
  w.bytes("rx", rx.data(), rx.size());
  w.u64("tx_bytes", tx_bytes_);
  w.u64("rx_bytes", rx_bytes_);
  w.end_section();
}

void Uart16550::restore(StateReader& r) {
  r.begin_section(params_.name);
  ier_ = r.u8("ier");
  lcr_ = r.u8("lcr");
  mcr_ = r.u8("mcr");
  scr_ = r.u8("scr");
  fcr_ = r.u8("fcr");
  divisor_ = static_cast<uint16_t>(r.u32("divisor"));
  thre_pending_ = r.boolean("thre_pending");
  auto rx = r.bytes("rx");
  rx_.assign(rx.begin(), rx.end());
  tx_bytes_ = r.u64("tx_bytes");
  rx_bytes_ = r.u64("rx_bytes");
  r.end_section();
}

void Uart16550::inspect(InspectNode& node) const {
  node.counter("base_port", params_.base_port);
  node.counter("tx_bytes", tx_bytes_);
  node.counter("rx_bytes", rx_bytes_);
  node.counter("rx_queued", rx_.size());
  node.counter("divisor", divisor_);
}

}  // namespace hvsim
